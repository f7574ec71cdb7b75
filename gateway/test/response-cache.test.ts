import { describe, expect, it } from 'vitest';
import { ResponseCache } from '../src/read-cache/response-cache.js';

const result = (n: number) => ({ data: { n } });

describe('the response cache', () => {
  it('serves what it stored until a dependency changes', () => {
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 60_000 });
    const snapshot = cache.snapshot(['sports:alice']);
    expect(cache.set('k', result(1), ['sports:alice'], snapshot)).toBe(true);
    expect(cache.get('k')).toEqual(result(1));
    cache.invalidate('sports:bob');
    expect(cache.get('k')).toEqual(result(1));
    cache.invalidate('sports:alice');
    expect(cache.get('k')).toBeNull();
  });

  it('does not store a read that raced a write', () => {
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 60_000 });
    const snapshot = cache.snapshot(['sports:alice']);
    cache.invalidate('sports:alice'); // the write lands while the read runs
    expect(cache.set('k', result(1), ['sports:alice'], snapshot)).toBe(false);
    expect(cache.get('k')).toBeNull();
  });

  it('does not store a read that started before a clear', () => {
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 60_000 });
    const snapshot = cache.snapshot([]);
    cache.clear();
    expect(cache.set('k', result(1), [], snapshot)).toBe(false);
  });

  it('evicts the least recently used entry past its bound', () => {
    const cache = new ResponseCache({ maxEntries: 2, ttlMs: 60_000 });
    for (const key of ['a', 'b'])
      cache.set(key, result(1), [], cache.snapshot([]));
    cache.get('a');
    cache.set('c', result(3), [], cache.snapshot([]));
    expect(cache.get('b')).toBeNull();
    expect(cache.get('a')).not.toBeNull();
    expect(cache.size).toBe(2);
  });

  it('keeps a hit entry ahead of entries not used since, at a larger bound', () => {
    const cache = new ResponseCache({ maxEntries: 8, ttlMs: 60_000 });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const key of keys) cache.set(key, result(1), [], cache.snapshot([]));
    // Read 'a' twice: the first hit moves it to the young end, the second
    // (right after) leaves it there.
    cache.get('a');
    cache.get('a');
    for (const key of ['i', 'j', 'k', 'l', 'm', 'n', 'o'])
      cache.set(key, result(1), [], cache.snapshot([]));
    expect(cache.get('a')).not.toBeNull();
    for (const key of keys.slice(1)) expect(cache.get(key)).toBeNull();
    expect(cache.size).toBe(8);
  });

  it('expires entries after their time to live', () => {
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 1_000 });
    cache.set('k', result(1), [], cache.snapshot([]), 0);
    expect(cache.get('k', 999)).not.toBeNull();
    expect(cache.get('k', 1_000)).toBeNull();
  });
});
