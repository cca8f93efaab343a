import { defineConfig } from 'vitest/config';

// Unit tests for pure logic only (seq rules, outbox, back-off). UI is checked end to end against the server.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    environment: 'node',
  },
});
