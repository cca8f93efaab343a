export * from './types';
export * from './errors';
export * from './seq';
export * from './outbox';
export * from './retry';
export * from './format';
export * from './place';
export * from './hub';
