import { murmur2, toPositive } from '@defter/broker';
import { app, definePipeline, Serdes, type LogOption, type StreamsApp } from '@defter/streams';
import { isMovieView, type MovieView } from './movie-views.js';

export const VIEWS_TOPIC = 'views';
/** Pipeline A's output: keyed by movie id. */
export const BY_MOVIE_TOPIC = 'views-by-movie';
/** Pipeline B's output: keyed by movie id and a salt from the user id. */
export const SALTED_TOPIC = 'views-salted';
/**
 * How many sub-keys each movie is split into. Several times the partition count, so that the
 * blockbuster's sub-keys spread over every partition rather than collide on a few.
 */
export const SALT_BUCKETS_DEFAULT = 32;

export interface HotPartitionsAppOptions {
  readonly log: LogOption;
  readonly saltBuckets?: number;
  readonly applicationId?: string;
}

/**
 * The salted key `<movieId>#<salt>`, the salt being the user id's hash modulo `saltBuckets`: one
 * user's views of a movie stay together (same key, same partition, in order), while a popular
 * movie's views spread over `saltBuckets` keys, hence over the partitions.
 */
export function saltedKey(view: MovieView, saltBuckets: number): string {
  const salt = toPositive(murmur2(Buffer.from(view.userId, 'utf8'))) % saltBuckets;
  return `${view.movieId}#${salt}`;
}

/**
 * Reads `views` once and writes every view twice: (A) keyed by movie id to `views-by-movie`, and
 * (B) keyed by the salted key to `views-salted`. `to()` places each record with murmur2 of its key
 * bytes, as Kafka's default partitioner does, so the output partitions show where a keyed
 * consumer — or a count per key — would find the load.
 */
export function hotPartitionsApp(options: HotPartitionsAppOptions): StreamsApp {
  const saltBuckets = options.saltBuckets ?? SALT_BUCKETS_DEFAULT;
  if (!Number.isInteger(saltBuckets) || saltBuckets < 1) throw new RangeError(`saltBuckets must be a positive integer, got ${saltBuckets}`);
  const viewsApp = app({ applicationId: options.applicationId ?? 'movie-views-keys', log: options.log });
  const views = viewsApp
    .stream(VIEWS_TOPIC, { key: Serdes.string(), value: Serdes.json<MovieView>({ validate: isMovieView }) })
    .filter((record) => record.value !== null);
  const output = { key: Serdes.string(), value: Serdes.json<MovieView>() };
  views.selectKey((record) => record.value!.movieId).to(BY_MOVIE_TOPIC, output);
  views.selectKey((record) => saltedKey(record.value!, saltBuckets)).to(SALTED_TOPIC, output);
  return viewsApp;
}

/** The pipeline file: `defter run examples/hot-partitions/src/pipeline.ts [-- <saltBuckets>]`. */
export default definePipeline((context) => {
  const saltBuckets = context.args[0] === undefined ? SALT_BUCKETS_DEFAULT : Number(context.args[0]);
  return hotPartitionsApp({ log: context.log, saltBuckets });
});
