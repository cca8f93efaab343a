import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// The agent console. The server serves wwwroot/console/index.html for every /console/* path; the app
// itself routes with the URL hash (#/c/<conversationId>, #/install), so deep links work either way.
export default defineConfig({
  base: '/console/',
  publicDir: false,
  plugins: [vue()],
  build: {
    outDir: '../../../src/Parley.Server/wwwroot/console',
    emptyOutDir: true, // only wwwroot/console/
    target: 'es2022',
    sourcemap: false,
    // The one chunk above Vite's 500 kB default is ECharts (echartsSetup, ~550 kB / 185 kB gzip), loaded only when the
    // Reports page opens (docs/reports.md); the main bundle stays far below. Warn again if anything grows past it.
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:5190',
      '/hubs': { target: 'http://127.0.0.1:5190', ws: true },
    },
  },
});
