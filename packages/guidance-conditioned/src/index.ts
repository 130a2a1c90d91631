export * from './model.js';
export * from './detect.js';
export * from './evaluate.js';
export * from './train.js';
export * from './spark.js';
export * from './patched.js';
