import { defineConfig } from 'vite';

// The widget app (iframe) and the full-screen H5 page (/chat/{siteKey}) are the same build. The server
// serves wwwroot/widget/index.html for both, so asset URLs must be absolute under /widget/.
export default defineConfig({
  base: '/widget/',
  publicDir: false,
  build: {
    outDir: '../../../src/Parley.Server/wwwroot/widget',
    emptyOutDir: true, // only wwwroot/widget/
    target: 'es2020',
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:5190',
      '/hubs': { target: 'http://127.0.0.1:5190', ws: true },
    },
  },
});
