// Rollup 4 with its default output names: entryFileNames "[name].js" (entries
// are NOT hashed by default), chunkFileNames "[name]-[hash].js",
// assetFileNames "assets/[name]-[hash][extname]", hashCharacters "base64".
// Rollup itself cannot load CSS, images or fonts; this minimal plugin emits
// them as assets (this.emitFile), the way asset plugins do, so that their
// names come from Rollup's own assetFileNames.
import { readFileSync } from "node:fs";
import { basename } from "node:path";

function emitAssets() {
  return {
    name: "emit-assets",
    load(id) {
      if (/\.(png|woff2?)$/.test(id)) {
        const ref = this.emitFile({ type: "asset", name: basename(id), source: readFileSync(id) });
        return `export default import.meta.ROLLUP_FILE_URL_${ref};`;
      }
      if (id.endsWith(".css")) {
        this.emitFile({ type: "asset", name: basename(id), source: readFileSync(id) });
        return "export default undefined;";
      }
      return null;
    },
  };
}

export default {
  input: "src/main.js",
  plugins: [emitAssets()],
  output: { dir: "dist", format: "es" },
};
