/** Calibration and training data: the DataSource abstraction and its readers. */
export * from './source';
export * from './open';
export * from './npy';
export * from './npy-folder';
export * from './images';
export * from './tensor-pb';
export * from './synthetic';
export * from './mnist';
