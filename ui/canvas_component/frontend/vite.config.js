import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// base "./": Streamlit serves the bundle from a component path inside an iframe, so assets must load
// relative to index.html. No source maps: the build is committed and shipped in the wheel.
export default defineConfig({
  base: "./",
  plugins: [react()],
  // streamlit-component-lib needs apache-arrow only for dataframe arguments, which this component
  // never receives (see src/no-arrow.js).
  resolve: { alias: { "apache-arrow": fileURLToPath(new URL("./src/no-arrow.js", import.meta.url)) } },
  build: {
    outDir: "build",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: { port: 3001, strictPort: true },
});
