import { defineConfig } from 'vite';

// widget.js: one dependency-free IIFE at the root of wwwroot. The output folder is shared with the other
// packages (wwwroot/widget/, wwwroot/console/) and the server's own files, so it must never be emptied.
export default defineConfig({
  publicDir: false,
  build: {
    outDir: '../../../src/Parley.Server/wwwroot',
    emptyOutDir: false,
    target: 'es2019',
    sourcemap: false,
    lib: {
      entry: 'src/loader.ts',
      formats: ['iife'],
      name: 'ParleyLoader',
      fileName: () => 'widget.js',
    },
  },
});
