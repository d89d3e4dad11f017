import { randomBytes } from 'node:crypto';

/** Kafka's UUIDs travel as 16 bytes and are shown as 22 characters of unpadded base64url. */
const UUID_BYTES = 16;
const UUID_TEXT = /^[A-Za-z0-9_-]{22}$/;

/** Kafka's `Uuid.ZERO_UUID`: "no id" on the wire. */
export const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';
/** Kafka's `Uuid.METADATA_TOPIC_ID` (0…01), reserved: never handed out as a topic id. */
const METADATA_TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAQ';

/** Whether `text` is the 22-character base64url form of 16 bytes (as the codec reads a UUID). */
export function isUuid(text: string): boolean {
  if (!UUID_TEXT.test(text)) return false;
  // 22 characters carry 132 bits: the last 4 must be zero for the text to be the canonical form.
  return Buffer.from(text, 'base64url').toString('base64url') === text;
}

/**
 * A random UUID as Kafka makes one (`Uuid.randomUuid`): version-4 bits, never one of the reserved
 * ids, and never starting with '-' (it would read as a flag on a command line).
 */
export function randomKafkaUuid(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = random(UUID_BYTES);
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const text = bytes.toString('base64url');
    if (!text.startsWith('-') && text !== ZERO_UUID && text !== METADATA_TOPIC_ID) return text;
  }
}
