export * from './model.js';
export * from './detect.js';
export * from './evaluate.js';
export * from './train.js';
