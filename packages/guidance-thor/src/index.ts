export * from './lpips.js';
