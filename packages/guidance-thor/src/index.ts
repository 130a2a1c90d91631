export * from './thor.js';
export * from './anoddpm.js';
export * from './perceptual.js';
export * from './lpips.js';
export * from './volume.js';
