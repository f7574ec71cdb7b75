/**
 * A small, fixed catalogue of fictional titles that recommendations are
 * drawn from. It stands in for the content service the division will
 * call: the ranking needs only genres, rating, audio languages and year,
 * and a static list keeps recommendations deterministic and testable.
 */

/** A genre, as stored in `entertainment.genres`. */
export type Genre =
  | 'action'
  | 'animation'
  | 'comedy'
  | 'documentary'
  | 'drama'
  | 'family'
  | 'fantasy'
  | 'horror'
  | 'musical'
  | 'romance'
  | 'sci-fi'
  | 'thriller';

/** A maturity rating, as stored in `entertainment.maturityRating`. */
export type MaturityRating = 'G' | 'PG' | 'PG-13' | 'R';

/** Maturity ratings from mildest to strictest. */
export const MATURITY_RATINGS: readonly MaturityRating[] = [
  'G',
  'PG',
  'PG-13',
  'R',
];

/** One film or series that can be recommended. */
export interface Title {
  readonly id: string;
  readonly title: string;
  readonly genres: readonly Genre[];
  readonly maturityRating: MaturityRating;
  /** Audio tracks as BCP 47 tags, original language first. */
  readonly audioLanguages: readonly string[];
  /** Year of release. */
  readonly year: number;
}

/** Every title recommendations can be drawn from. */
export const TITLE_CATALOGUE: readonly Title[] = [
  {
    id: 'lighthouse-keepers-cat',
    title: "The Lighthouse Keeper's Cat",
    genres: ['animation', 'family', 'comedy'],
    maturityRating: 'G',
    audioLanguages: ['en', 'fr', 'es'],
    year: 2021,
  },
  {
    id: 'paper-moon-parade',
    title: 'Paper Moon Parade',
    genres: ['animation', 'musical', 'family'],
    maturityRating: 'G',
    audioLanguages: ['en', 'de'],
    year: 2019,
  },
  {
    id: 'pebble-and-the-giant',
    title: 'Pebble and the Giant',
    genres: ['animation', 'fantasy', 'family'],
    maturityRating: 'PG',
    audioLanguages: ['en', 'ja'],
    year: 2023,
  },
  {
    id: 'ocean-of-glass',
    title: 'Ocean of Glass',
    genres: ['documentary', 'family'],
    maturityRating: 'G',
    audioLanguages: ['en', 'fr', 'pt-BR'],
    year: 2022,
  },
  {
    id: 'the-last-orchard',
    title: 'The Last Orchard',
    genres: ['drama', 'family'],
    maturityRating: 'PG',
    audioLanguages: ['fr', 'en'],
    year: 2018,
  },
  {
    id: 'rocket-grandma',
    title: 'Rocket Grandma',
    genres: ['comedy', 'sci-fi', 'family'],
    maturityRating: 'PG',
    audioLanguages: ['en', 'es'],
    year: 2024,
  },
  {
    id: 'clockwork-kingdom',
    title: 'Clockwork Kingdom',
    genres: ['fantasy', 'action', 'animation'],
    maturityRating: 'PG',
    audioLanguages: ['ja', 'en'],
    year: 2020,
  },
  {
    id: 'summer-at-villa-rosa',
    title: 'Summer at Villa Rosa',
    genres: ['romance', 'comedy'],
    maturityRating: 'PG',
    audioLanguages: ['it', 'en'],
    year: 2017,
  },
  {
    id: 'the-quiet-choir',
    title: 'The Quiet Choir',
    genres: ['musical', 'drama'],
    maturityRating: 'PG',
    audioLanguages: ['de', 'en'],
    year: 2015,
  },
  {
    id: 'star-cartographers',
    title: 'Star Cartographers',
    genres: ['sci-fi', 'documentary'],
    maturityRating: 'G',
    audioLanguages: ['en', 'ko'],
    year: 2025,
  },
  {
    id: 'monsoon-wedding-band',
    title: 'Monsoon Wedding Band',
    genres: ['musical', 'romance', 'comedy'],
    maturityRating: 'PG',
    audioLanguages: ['hi', 'en'],
    year: 2022,
  },
  {
    id: 'ember-and-ash',
    title: 'Ember and Ash',
    genres: ['fantasy', 'action'],
    maturityRating: 'PG-13',
    audioLanguages: ['en', 'fr'],
    year: 2024,
  },
  {
    id: 'neon-relay',
    title: 'Neon Relay',
    genres: ['sci-fi', 'action', 'thriller'],
    maturityRating: 'PG-13',
    audioLanguages: ['en', 'ja', 'es'],
    year: 2023,
  },
  {
    id: 'the-cartographers-daughter',
    title: "The Cartographer's Daughter",
    genres: ['drama', 'romance'],
    maturityRating: 'PG-13',
    audioLanguages: ['es', 'en'],
    year: 2020,
  },
  {
    id: 'glass-harbor',
    title: 'Glass Harbor',
    genres: ['thriller', 'drama'],
    maturityRating: 'PG-13',
    audioLanguages: ['en'],
    year: 2021,
  },
  {
    id: 'seoul-night-market',
    title: 'Seoul Night Market',
    genres: ['comedy', 'drama'],
    maturityRating: 'PG-13',
    audioLanguages: ['ko', 'en'],
    year: 2022,
  },
  {
    id: 'iron-meridian',
    title: 'Iron Meridian',
    genres: ['action', 'thriller'],
    maturityRating: 'PG-13',
    audioLanguages: ['en', 'de', 'fr'],
    year: 2019,
  },
  {
    id: 'the-whispering-archive',
    title: 'The Whispering Archive',
    genres: ['fantasy', 'thriller'],
    maturityRating: 'PG-13',
    audioLanguages: ['en', 'pt'],
    year: 2025,
  },
  {
    id: 'dance-of-the-tides',
    title: 'Dance of the Tides',
    genres: ['musical', 'romance'],
    maturityRating: 'PG-13',
    audioLanguages: ['pt-BR', 'es'],
    year: 2018,
  },
  {
    id: 'laughing-in-lyon',
    title: 'Laughing in Lyon',
    genres: ['comedy'],
    maturityRating: 'PG-13',
    audioLanguages: ['fr'],
    year: 2016,
  },
  {
    id: 'cold-signal',
    title: 'Cold Signal',
    genres: ['sci-fi', 'horror'],
    maturityRating: 'R',
    audioLanguages: ['en', 'es'],
    year: 2024,
  },
  {
    id: 'the-hollow-house',
    title: 'The Hollow House',
    genres: ['horror', 'thriller'],
    maturityRating: 'R',
    audioLanguages: ['en'],
    year: 2023,
  },
  {
    id: 'blood-orange-summer',
    title: 'Blood Orange Summer',
    genres: ['drama', 'thriller'],
    maturityRating: 'R',
    audioLanguages: ['es', 'en'],
    year: 2021,
  },
  {
    id: 'midnight-in-kyoto',
    title: 'Midnight in Kyoto',
    genres: ['horror', 'drama'],
    maturityRating: 'R',
    audioLanguages: ['ja'],
    year: 2020,
  },
  {
    id: 'the-long-heist',
    title: 'The Long Heist',
    genres: ['action', 'comedy', 'thriller'],
    maturityRating: 'R',
    audioLanguages: ['en', 'fr', 'de'],
    year: 2022,
  },
  {
    id: 'wolves-of-the-north',
    title: 'Wolves of the North',
    genres: ['action', 'drama'],
    maturityRating: 'R',
    audioLanguages: ['de', 'en'],
    year: 2017,
  },
  {
    id: 'velvet-static',
    title: 'Velvet Static',
    genres: ['romance', 'sci-fi'],
    maturityRating: 'R',
    audioLanguages: ['en', 'ko'],
    year: 2025,
  },
  {
    id: 'tiny-dragon-big-city',
    title: 'Tiny Dragon, Big City',
    genres: ['animation', 'comedy', 'fantasy', 'family'],
    maturityRating: 'G',
    audioLanguages: ['en', 'es', 'fr', 'ja'],
    year: 2025,
  },
  {
    id: 'the-beekeepers-year',
    title: "The Beekeeper's Year",
    genres: ['documentary'],
    maturityRating: 'G',
    audioLanguages: ['en', 'it'],
    year: 2014,
  },
  {
    id: 'harmony-road',
    title: 'Harmony Road',
    genres: ['musical', 'family', 'drama'],
    maturityRating: 'G',
    audioLanguages: ['en', 'hi'],
    year: 2012,
  },
];
