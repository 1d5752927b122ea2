// Prints two throwaway service-account keys for the Vertex token benchmark, one JSON line each: the
// first's token endpoint hands out tokens that are stale at once, the second's tokens that live an
// hour. Usage: node vertex-accounts.mjs <upstream port>
import { generateKeyPairSync } from "node:crypto";

const port = process.argv[2];
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs8", format: "pem" });
for (const endpoint of ["fresh", "cached"]) {
  const account = {
    type: "service_account", project_id: "bench", private_key_id: "bench-key", private_key: pem,
    client_email: "bench@bench.iam.gserviceaccount.com", token_uri: `http://127.0.0.1:${port}/token-${endpoint}`,
  };
  console.log(JSON.stringify(account));
}
