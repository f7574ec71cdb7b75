import {
  MATURITY_RATINGS,
  type Genre,
  type MaturityRating,
  type Title,
} from './title-catalogue.js';

/** The effective preferences a recommendation is computed from. */
export interface ViewingPreferences {
  readonly genres: readonly string[];
  readonly maturityRating: string;
  /** BCP 47 tags, most preferred first. */
  readonly languages: readonly string[];
}

/** A title suggested to one user, and why. */
export interface Recommendation {
  readonly id: string;
  readonly title: string;
  readonly genres: readonly Genre[];
  readonly maturityRating: MaturityRating;
  readonly year: number;
  readonly reason: string;
}

/** A title the user may watch, with the genres it shares with them. */
interface Candidate {
  readonly title: Title;
  readonly sharedGenres: readonly Genre[];
  /** The user's most preferred language the title has audio in. */
  readonly language: string;
}

/**
 * Recommends up to `limit` titles: only those within the user's maturity
 * rating and with audio in one of the user's languages, most shared
 * genres first, then newest, then by name so the order is stable.
 */
export function recommendTitles(
  catalogue: readonly Title[],
  preferences: ViewingPreferences,
  limit: number,
): Recommendation[] {
  return catalogue
    .flatMap((title) => candidate(title, preferences))
    .sort(
      (a, b) =>
        b.sharedGenres.length - a.sharedGenres.length ||
        b.title.year - a.title.year ||
        a.title.title.localeCompare(b.title.title),
    )
    .slice(0, limit)
    .map(toRecommendation);
}

/** The title as a candidate, or nothing when the user cannot watch it. */
function candidate(title: Title, preferences: ViewingPreferences): Candidate[] {
  if (!withinRating(title.maturityRating, preferences.maturityRating)) {
    return [];
  }
  const audio = new Set(title.audioLanguages.map(primaryLanguage));
  const language = preferences.languages.find((tag) =>
    audio.has(primaryLanguage(tag)),
  );
  if (language === undefined) return [];

  const liked = new Set(preferences.genres);
  const sharedGenres = title.genres.filter((genre) => liked.has(genre));
  return [{ title, sharedGenres, language }];
}

/**
 * Whether `rating` is no stricter than the user's cap. An unknown cap
 * allows nothing: when in doubt, do not show mature content.
 */
function withinRating(rating: MaturityRating, cap: string): boolean {
  const capRank = MATURITY_RATINGS.indexOf(cap as MaturityRating);
  return capRank >= 0 && MATURITY_RATINGS.indexOf(rating) <= capRank;
}

/**
 * The primary language subtag of a BCP 47 tag (`pt` of `pt-BR`), so a
 * user who prefers `en-GB` hears titles with `en` audio.
 */
function primaryLanguage(tag: string): string {
  return (tag.split('-')[0] ?? tag).toLowerCase();
}

function toRecommendation({
  title,
  sharedGenres,
  language,
}: Candidate): Recommendation {
  const reason =
    sharedGenres.length > 0
      ? `Matches your genres: ${sharedGenres.join(', ')}.`
      : `Available in your language (${language}).`;
  return {
    id: title.id,
    title: title.title,
    genres: title.genres,
    maturityRating: title.maturityRating,
    year: title.year,
    reason,
  };
}
