import { SeededRandom } from '@defter/example-common';

/** One play of a movie by a user: the input event of the example. */
export interface MovieView {
  readonly movieId: string;
  readonly userId: string;
  /** When the play started, milliseconds since the epoch. */
  readonly at: number;
}

export function isMovieView(value: unknown): value is MovieView {
  if (typeof value !== 'object' || value === null) return false;
  const view = value as Record<string, unknown>;
  return typeof view.movieId === 'string' && typeof view.userId === 'string' && Number.isSafeInteger(view.at);
}

export interface MovieViewsOptions {
  readonly count: number;
  readonly seed: number;
  readonly moviesCount: number;
  readonly usersCount: number;
  /** The share of all views that goes to the one blockbuster (movie `m001`). */
  readonly blockbusterShare: number;
  readonly startMs: number;
}

export const DEFAULT_MOVIE_VIEWS: MovieViewsOptions = {
  count: 10_000,
  seed: 2026,
  moviesCount: 100,
  usersCount: 2_000,
  blockbusterShare: 0.5,
  startMs: Date.UTC(2026, 10, 27, 20, 0, 0),
};

/**
 * A Friday night of views with a Zipf-like skew: the blockbuster takes `blockbusterShare` of them,
 * the other movies share the rest with weights 1/rank (the second-most popular gets twice the
 * third's views, and so on). Users are uniform. Deterministic for a given seed.
 */
export function generateMovieViews(options: MovieViewsOptions = DEFAULT_MOVIE_VIEWS): MovieView[] {
  const { count, seed, moviesCount, usersCount, blockbusterShare, startMs } = options;
  if (moviesCount < 2) throw new RangeError('moviesCount must be at least 2 (the blockbuster and one more)');
  const random = new SeededRandom(seed);
  const tailWeights = Array.from({ length: moviesCount - 1 }, (_, index) => 1 / (index + 1));
  const tailWeightTotal = tailWeights.reduce((sum, weight) => sum + weight, 0);
  const views: MovieView[] = [];
  let at = startMs;
  for (let index = 0; index < count; index += 1) {
    const movieRank = random.next() < blockbusterShare ? 0 : 1 + pickWeighted(tailWeights, random.next() * tailWeightTotal);
    const userNumber = random.nextInt(usersCount) + 1;
    at += random.nextInt(200);
    views.push({ movieId: movieIdOf(movieRank), userId: `u${String(userNumber).padStart(4, '0')}`, at });
  }
  return views;
}

export function movieIdOf(rank: number): string {
  return `m${String(rank + 1).padStart(3, '0')}`;
}

/** The index whose cumulative weight first exceeds `point` (the last one for rounding at the end). */
function pickWeighted(weights: readonly number[], point: number): number {
  let remaining = point;
  for (let index = 0; index < weights.length; index += 1) {
    remaining -= weights[index]!;
    if (remaining < 0) return index;
  }
  return weights.length - 1;
}
