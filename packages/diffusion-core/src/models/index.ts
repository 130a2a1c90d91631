export {};
export * from './resnet.js';
