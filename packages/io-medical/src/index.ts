/**
 * @adx/io-medical: NIfTI, DICOM and PNG I/O, volumes and preprocessing, dataset layouts and a synthetic brain-MRI
 * phantom. Isomorphic (browser + Node); file-system helpers live in `@adx/io-medical/node`.
 */
export * from './errors.js';
export * from './affine.js';
export * from './volume.js';
export { isGzip, gunzipChecked, gzip, crc32 } from './gzip.js';
export * from './nifti.js';
export * from './dicom.js';
