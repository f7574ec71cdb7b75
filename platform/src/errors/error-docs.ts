import { CLOSE_CODES } from './close-codes.js';
import { ERROR_CODES } from './error-codes.js';

/** Renders `docs/errors.md` from the error-code registry. */
export function renderErrorDocs(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, { httpStatus, description }]) =>
      `| \`${code}\` | ${httpStatus} | ${description.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Error codes',
    '',
    '<!-- Generated from platform/src/errors/error-codes.ts by `npm run docs`. Do not edit. -->',
    '',
    'Every GraphQL error Realms sends carries one of these codes in',
    '`extensions.code`, and `extensions.requestId` to match it with the logs.',
    'The HTTP status applies when the whole request is refused before it',
    'runs (no realm, a bad token, a malformed request); an error raised while',
    'resolving a field comes in a response with status 200.',
    '',
    '| code | HTTP status | meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
    '## WebSocket close codes',
    '',
    'The subscription endpoint (graphql-ws on `/graphql`) closes a connection',
    "with one of the protocol's codes or with one of these:",
    '',
    '| close code | name | meaning |',
    '| --- | --- | --- |',
    ...Object.entries(CLOSE_CODES).map(
      ([name, { code, description }]) =>
        `| ${code} | \`${name}\` | ${description} |`,
    ),
    '',
  ].join('\n');
}
