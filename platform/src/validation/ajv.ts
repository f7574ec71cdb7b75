import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export is the module.
const addFormats = addFormatsModule as unknown as (
  ajv: Ajv,
  options: { formats: string[]; keywords: boolean },
) => Ajv;

const timeZones = new Set<string>([
  ...Intl.supportedValuesOf('timeZone'),
  'UTC',
]);

/** True for a well-formed BCP 47 language tag (`en`, `fr-CA`, `zh-Hant-TW`). */
export function isLanguageTag(value: string): boolean {
  try {
    return Intl.getCanonicalLocales(value).length === 1;
  } catch {
    return false;
  }
}

/** True for a canonical IANA time zone name known to this runtime. */
export function isTimeZone(value: string): boolean {
  return timeZones.has(value);
}

/**
 * The one Ajv configuration of the project: strict (an unknown keyword in a
 * schema file is an error, not silently ignored), every error reported,
 * our two formats next to the standard ones, and the format comparison
 * keywords (`formatMinimum`, `formatMaximum`).
 */
export function createAjv(): Ajv {
  // `$data` lets one field's rule refer to another's value declaratively,
  // e.g. a trip's end date `formatMinimum` its start date.
  const ajv = new Ajv({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    $data: true,
  });
  addFormats(ajv, {
    formats: ['date', 'date-time', 'time', 'uri', 'email'],
    keywords: true,
  });
  ajv.addFormat('bcp47', { type: 'string', validate: isLanguageTag });
  ajv.addFormat('iana-time-zone', { type: 'string', validate: isTimeZone });
  return ajv;
}

export type { ErrorObject, ValidateFunction };
