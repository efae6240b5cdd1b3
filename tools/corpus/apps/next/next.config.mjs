// Static export: `next build` writes the site to out/, which is what gets
// synced to S3 (`_next/static/...`, `index.html`, ...).
export default {
  output: "export",
  // The build ID is a directory name (`_next/static/<buildId>/`), not a
  // content hash; it is random by default. A fixed one keeps the corpus
  // reproducible; file names inside it are not affected.
  generateBuildId: async () => "corpus-build-id",
};
