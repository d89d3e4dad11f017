import { AvroSerde } from './avro-serde.js';
import type { AvroSerdeOptions } from './avro-serde.js';
import { bytesSerde } from './bytes-serde.js';
import type { BytesSerdeOptions } from './bytes-serde.js';
import { jsonSerde } from './json-serde.js';
import type { JsonSerdeOptions } from './json-serde.js';
import { float64Serde, int32Serde, int64Serde } from './number-serdes.js';
import type { Serde } from './serde.js';
import { stringSerde } from './string-serde.js';
import type { StringSerdeOptions } from './string-serde.js';

/** The built-in serdes, in one place: `Serdes.string()`, `Serdes.json<Order>({ validate })`, `Serdes.avro({ registry })`, … */
export const Serdes = {
  string: (options?: StringSerdeOptions): Serde<string> => stringSerde(options),
  json: <T>(options?: JsonSerdeOptions<T>): Serde<T> => jsonSerde(options),
  bytes: (options?: BytesSerdeOptions): Serde<Buffer> => bytesSerde(options),
  int32: (): Serde<number> => int32Serde(),
  int64: (): Serde<bigint> => int64Serde(),
  float64: (): Serde<number> => float64Serde(),
  avro: <T>(options: AvroSerdeOptions): AvroSerde<T> => new AvroSerde<T>(options),
} as const;
