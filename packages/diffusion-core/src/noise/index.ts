export * from './gaussian.js';
export * from './simplex.js';
