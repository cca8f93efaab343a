import { describe, expect, it } from 'vitest';
import { crossingReads } from '../src/api';

describe('crossingReads', () => {
  it('lets an answer through when nothing happened since its read began', () => {
    const reads = crossingReads();
    const fresh = reads.begin();
    expect(fresh()).toBe(true);
  });

  it('drops an answer once a push arrived after its read began', () => {
    const reads = crossingReads();
    const fresh = reads.begin();
    reads.pushed();
    expect(fresh()).toBe(false);
  });

  it('drops an answer overtaken by a newer read, and keeps the newer one', () => {
    const reads = crossingReads();
    const older = reads.begin();
    const newer = reads.begin();
    expect(older()).toBe(false);
    expect(newer()).toBe(true);
  });

  it('does not hold a push before the read began against it', () => {
    const reads = crossingReads();
    reads.pushed();
    const fresh = reads.begin();
    expect(fresh()).toBe(true);
  });
});
