export * from './wolleb.js';
export * from './evaluate.js';
