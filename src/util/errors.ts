/**
 * Errors at the edges (config, files, CLI). The hot path never throws: it returns drop codes.
 * `code` is stable; the CLI maps it to an exit status.
 */
export type VtepErrorCode = 'CONFIG' | 'USAGE' | 'CAPTURE' | 'IO' | 'NATIVE' | 'PERMISSION' | 'MISMATCH';

export class VtepError extends Error {
  readonly code: VtepErrorCode;
  constructor(code: VtepErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'VtepError';
  }
}
