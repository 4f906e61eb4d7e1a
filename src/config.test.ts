// Unit tests of the environment schema: defaults, parsing, and start-up errors that name
// the bad variable and what it accepts.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.database).toEqual({ kind: 'pglite', dataDir: path.resolve('./data/meta') });
    expect(c.logLevel).toBe('info');
    expect(c.logStore).toBe('file');
  });

  it('parses settings and treats empty strings as unset', () => {
    const c = loadConfig({
      PORT: '0',
      HOST: '0.0.0.0',
      DATA_DIR: '/tmp/x',
      DATABASE_URL: 'postgres://u:p@db:5432/sluice',
      SLUICE_LOG_LEVEL: 'silent',
      SLUICE_CORS_ORIGINS: 'https://a.example, https://b.example',
      SLUICE_MAX_BODY_BYTES: '',
    });
    expect(c).toMatchObject({ port: 0, host: '0.0.0.0', dataDir: '/tmp/x', logLevel: 'silent' });
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/sluice' });
    expect(c.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(c.maxBodyBytes).toBe(16 * 1024 * 1024);
  });

  it('keeps PGlite in memory when asked', () => {
    expect(loadConfig({ SLUICE_PGLITE_IN_MEMORY: 'true' }).database).toEqual({ kind: 'pglite', dataDir: null });
  });

  it.each([
    ['PORT', 'eighty', /PORT="eighty" is invalid: expected an integer between 0 and 65535/],
    ['PORT', '70000', /PORT="70000" is invalid: expected an integer ≤ 65535/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL="mysql:\/\/x" is invalid: expected a postgres:\/\//],
    ['SLUICE_LOG_LEVEL', 'loud', /SLUICE_LOG_LEVEL="loud" is invalid: expected one of fatal/],
    ['SLUICE_MAX_PARTITIONS', '0', /SLUICE_MAX_PARTITIONS="0" is invalid: expected an integer ≥ 1/],
    ['SLUICE_LOG_STORE', 'disk', /SLUICE_LOG_STORE="disk" is invalid: expected file, memory or kafka/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('kafka: brokers are required and parsed; TLS and SASL settings are checked together', () => {
    expect(() => loadConfig({ SLUICE_LOG_STORE: 'kafka' })).toThrow(/SLUICE_KAFKA_BROKERS="" is invalid/);
    expect(() => loadConfig({ SLUICE_KAFKA_BROKERS: 'a:1,b' })).toThrow(/SLUICE_KAFKA_BROKERS="a:1,b" is invalid/);
    expect(() =>
      loadConfig({ SLUICE_LOG_STORE: 'kafka', SLUICE_KAFKA_BROKERS: 'a:1', SLUICE_KAFKA_SASL_MECHANISM: 'PLAIN' }),
    ).toThrow(/SLUICE_KAFKA_SASL_USERNAME and SLUICE_KAFKA_SASL_PASSWORD/);
    const c = loadConfig({
      SLUICE_LOG_STORE: 'kafka',
      SLUICE_KAFKA_BROKERS: 'k1.example:9093,10.0.0.2:9093',
      SLUICE_KAFKA_TLS_CA_FILE: '/etc/ca.pem',
      SLUICE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      SLUICE_KAFKA_SASL_USERNAME: 'u',
      SLUICE_KAFKA_SASL_PASSWORD: 'p',
    });
    expect(c.logStore).toBe('kafka');
    expect(c.kafka).toMatchObject({
      brokers: ['k1.example:9093', '10.0.0.2:9093'],
      clientId: 'sluice',
      topicPrefix: 'sluice.',
      replicationFactor: -1,
      tls: { enabled: true, caFile: '/etc/ca.pem' },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' },
    });
  });

  it('lists every bad variable at once', () => {
    try {
      loadConfig({ PORT: 'x', SLUICE_LOG_LEVEL: 'y' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues).toHaveLength(2);
    }
  });

  it('limits: defaults, and settings that contradict each other stop start-up naming both', () => {
    expect(loadConfig({}).limits).toEqual({
      maxConnections: 20_000,
      maxStreams: 15_000,
      maxBufferedBodyBytes: 256 * 1024 * 1024,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5_000,
      allowedHosts: [],
      keyProduceBytesPerSec: 0,
      keyReadBytesPerSec: 0,
      keyMaxStreams: 1_000,
    });
    expect(() => loadConfig({ SLUICE_MAX_BODY_BYTES: '2048', SLUICE_MAX_BUFFERED_BODY_BYTES: '1024' })).toThrow(
      /SLUICE_MAX_BUFFERED_BODY_BYTES=1024 is invalid: expected at least SLUICE_MAX_BODY_BYTES \(2048\)/,
    );
    expect(() => loadConfig({ SLUICE_HEADERS_TIMEOUT_MS: '5000', SLUICE_REQUEST_TIMEOUT_MS: '1000' })).toThrow(
      /SLUICE_REQUEST_TIMEOUT_MS=1000 is invalid: expected at least SLUICE_HEADERS_TIMEOUT_MS \(5000\)/,
    );
  });
});
