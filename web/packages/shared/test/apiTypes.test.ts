import { describe, expect, it } from 'vitest';
import { compare, generate } from '../../../scripts/api-types.mjs';

describe('api.generated.ts', () => {
  it('is what docs/openapi/v1.json generates (run `npm run gen:api` after an API change)', () => {
    const { committed, expected } = compare();
    expect(committed).toBe(expected);
  });

  it('types nullable, int64, arrays, maps and references the way the server writes them', () => {
    const out = generate({
      components: {
        schemas: {
          A: {
            type: 'object',
            required: ['id', 'seq'],
            properties: {
              id: { type: 'string', format: 'uuid' },
              seq: { type: ['integer', 'string'], format: 'int64' },
              name: { type: ['null', 'string'] },
              tags: { type: 'array', items: { type: 'string' } },
              counts: { type: 'object', additionalProperties: { type: 'integer' } },
              b: { oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/B' }] },
            },
          },
          B: { type: 'string', enum: ['x', 'y'] },
        },
      },
    });
    expect(out).toContain('    id: string;\n    seq: number;\n    name?: string | null;\n    tags?: string[];\n    counts?: Record<string, number>;\n    b?: Schemas[\'B\'] | null;');
    expect(out).toContain('  B: "x" | "y";');
  });
});
