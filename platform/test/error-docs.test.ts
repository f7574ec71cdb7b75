import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderErrorDocs } from '../src/errors/error-docs.js';

describe('docs/errors.md', () => {
  it('is what the error-code registry generates (run `npm run docs`)', async () => {
    const committed = await readFile(
      new URL('../../docs/errors.md', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(renderErrorDocs());
  });
});
