// One tiny app, built three ways (NAMING=default|cra|vuecli); see SHAPES.md.
//   default: the caching guide's `[name].[contenthash].js` with every other
//            option at webpack 5's default (asset modules: `[hash][ext][query]`).
//   cra:     Create React App 5's names (react-scripts config/webpack.config.js).
//   vuecli:  Vue CLI 5's names (@vue/cli-service lib/config/app.js, assets.js, css.js).
// Only file names are copied from those presets; loaders are the minimum
// (css-loader + mini-css-extract-plugin + asset modules).
const path = require("path");
const MiniCssExtractPlugin = require("mini-css-extract-plugin");

const naming = process.env.NAMING || "default";
const presets = {
  default: {
    filename: "[name].[contenthash].js",
    chunkFilename: undefined, // webpack derives `[id].[contenthash].js`
    assetModuleFilename: undefined, // webpack's default `[hash][ext][query]`
    css: { filename: "[name].[contenthash].css" },
    fonts: undefined,
    images: undefined,
  },
  cra: {
    filename: "static/js/[name].[contenthash:8].js",
    chunkFilename: "static/js/[name].[contenthash:8].chunk.js",
    assetModuleFilename: "static/media/[name].[hash][ext]",
    css: {
      filename: "static/css/[name].[contenthash:8].css",
      chunkFilename: "static/css/[name].[contenthash:8].chunk.css",
    },
    fonts: undefined,
    images: undefined,
  },
  vuecli: {
    filename: "js/[name].[contenthash:8].js",
    chunkFilename: "js/[name].[contenthash:8].js",
    assetModuleFilename: undefined,
    css: {
      filename: "css/[name].[contenthash:8].css",
      chunkFilename: "css/[name].[contenthash:8].css",
    },
    fonts: "fonts/[name].[hash:8][ext]",
    images: "img/[name].[hash:8][ext]",
  },
}[naming];

const drop = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

module.exports = {
  mode: "production",
  context: __dirname,
  entry: { main: "./src/main.js" },
  output: drop({
    path: path.resolve(__dirname, "out", naming),
    filename: presets.filename,
    chunkFilename: presets.chunkFilename,
    assetModuleFilename: presets.assetModuleFilename,
    clean: true,
  }),
  module: {
    rules: [
      { test: /\.css$/, use: [MiniCssExtractPlugin.loader, "css-loader"] },
      drop({
        test: /\.(png|jpe?g|gif|svg|webp)$/,
        type: "asset/resource",
        generator: presets.images && { filename: presets.images },
      }),
      drop({
        test: /\.(woff2?|ttf|otf|eot)$/,
        type: "asset/resource",
        generator: presets.fonts && { filename: presets.fonts },
      }),
    ],
  },
  plugins: [new MiniCssExtractPlugin(drop(presets.css))],
  performance: { hints: false },
};
