/**
 * A failure that asks for a particular exit code: `runCli` prints its message as one sentence,
 * like any error, and exits with `exitCode` instead of 1 (2 marks bad input, as for usage errors).
 */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Exit code of bad input: a file that is not a pipeline, an argument that cannot be used. */
export const EXIT_BAD_INPUT = 2;
