import type { Topics } from '../shared/config.ts';
import { movieDetailsProjection } from './movie-details/projection.ts';
import type { Projection } from './projection.ts';
import { ratingsProjection } from './ratings/projection.ts';

/** Every read model of the catalogue, fed by the topics as configured. */
export function catalogueProjections(topics: Topics): Projection[] {
  return [movieDetailsProjection(topics.movieMetadata), ratingsProjection(topics.movieRatings)];
}
