import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** The one root logger of a process; components take `logger.child({ component })`. */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.jwtSecret', 'JWT_SECRET'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
