import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// The frame-time benchmark's peer page (benchmarks/bench_canvas.py): plain @xyflow/react, built on its own into a
// folder the benchmark chooses (`vite build --config bench/vite.config.js --outDir DIR`), never into build/, so the
// shipped bundle does not carry it.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  plugins: [react()],
  build: { emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  logLevel: "warn",
});
