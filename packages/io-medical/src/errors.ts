/**
 * Typed errors of @adx/io-medical. Every error names the file (or argument) and the field that is wrong, in the
 * spirit of diffusion-core's `errors.ts`, so that a user can tell which scan and which header entry to look at.
 */

/** Base class: all io-medical errors are `instanceof IoError`. */
export class IoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file could not be read as the expected format (bad magic, truncated data, corrupt gzip, bad header field). */
export class FormatError extends IoError {
  /** `file`: the file name or '<buffer>'; `field`: the header field or byte range at fault. */
  constructor(
    readonly format: 'nifti' | 'dicom' | 'png' | 'csv' | 'gzip',
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${format.toUpperCase()} ${file}: ${field}: ${problem}`);
  }
}

/** The file is valid but uses a feature io-medical does not implement (datatype, transfer syntax, ...). */
export class UnsupportedError extends IoError {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}: ${field}: ${problem}`);
  }
}

/** A function argument is invalid. */
export class IoArgumentError extends IoError {
  constructor(
    readonly argumentName: string,
    readonly problem: string,
  ) {
    super(`argument '${argumentName}': ${problem}`);
  }
}

/** A dataset folder does not match its declared layout (missing files, inconsistent subjects). */
export class DatasetError extends IoError {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`dataset ${path}: ${problem}`);
  }
}
