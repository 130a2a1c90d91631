export * from './gaussian.js';
export * from './simplex.js';
export * from './simplex3d.js';
