/**
 * @adx/io-medical: NIfTI, DICOM and PNG I/O, volumes and preprocessing, dataset layouts and a synthetic brain-MRI
 * phantom. Isomorphic (browser + Node); file-system helpers live in `@adx/io-medical/node`.
 */
export * from './errors.js';
export * from './affine.js';
export * from './volume.js';
export * from './image2d.js';
export { isGzip, gunzipChecked, gzip, crc32 } from './gzip.js';
export * from './nifti.js';
export * from './dicom.js';
export * from './png.js';
export * from './preprocess.js';
export * from './rng.js';
export * from './csv.js';
export * from './phantom.js';
export * from './dataset.js';
export * from './phantom-dataset.js';
