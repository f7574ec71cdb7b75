// `npm run docs`: writes the generated documentation pages.
import { writeFile } from 'node:fs/promises';
import { renderErrorDocs } from '@realms/platform';

const file = new URL('../docs/errors.md', import.meta.url);
await writeFile(file, renderErrorDocs());
console.log(`Wrote ${file.pathname}`);
