export * from './module.js';
export * from './layers.js';
export * from './embeddings.js';
export * from './attention.js';
export * from './resblocks.js';
