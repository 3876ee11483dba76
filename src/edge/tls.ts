import { accessSync, constants } from 'node:fs';
import { z } from '#zod';

/**
 * TLS: every worker serves https with uWebSockets.js `SSLApp` (OpenSSL inside uWS) when
 * `tls.cert` and `tls.key` are set. `scripts/dev-cert.sh` makes a local CA and a certificate for
 * 127.0.0.1 and localhost. HTTP/1.1 only, as without TLS (README "The HTTP edge").
 */
const pemFile = z
  .string()
  .min(1)
  .refine(
    (path) => {
      try {
        accessSync(path, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'no readable file at this path' },
  );

export const tlsSchema = z
  .object({
    /** The server certificate (PEM); with `key`, the simulator serves https. */
    cert: pemFile.nullable().default(null),
    /** Its private key (PEM). */
    key: pemFile.nullable().default(null),
    /** The key's passphrase, when it is encrypted. */
    passphrase: z.string().nullable().default(null),
    /** A CA bundle (PEM) the server presents with its certificate (intermediates). */
    ca: pemFile.nullable().default(null),
  })
  .strict()
  .prefault({})
  .refine((t) => (t.cert === null) === (t.key === null), { message: 'give both tls.cert and tls.key, or neither', path: ['key'] });

export type TlsConfig = z.infer<typeof tlsSchema>;

/** The options uWS `SSLApp` takes for this config, or null for plain http. */
export function sslOptions(tls: TlsConfig): { cert_file_name: string; key_file_name: string; passphrase?: string; ca_file_name?: string } | null {
  if (tls.cert === null || tls.key === null) return null;
  return { cert_file_name: tls.cert, key_file_name: tls.key, ...(tls.passphrase !== null ? { passphrase: tls.passphrase } : {}), ...(tls.ca !== null ? { ca_file_name: tls.ca } : {}) };
}
