import { describe, expect, it } from 'vitest';
import { compareCursors } from '../../src/change-feed/change-event.js';

describe('cursor order', () => {
  it('compares stream ids number by number, not as strings', () => {
    expect(
      compareCursors('sports/1700000000000-9', 'sports/1700000000000-10'),
    ).toBeLessThan(0);
    expect(
      compareCursors('sports/1700000000001-0', 'sports/1700000000000-99'),
    ).toBeGreaterThan(0);
    expect(
      compareCursors('sports/0000000012', 'sports/0000000009'),
    ).toBeGreaterThan(0);
    expect(compareCursors('parks/5-1', 'parks/5-1')).toBe(0);
  });
});
