export * from './wolleb.js';
export * from './evaluate.js';
export * from './training.js';
