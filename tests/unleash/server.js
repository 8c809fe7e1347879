// Starts unleash-server for the flag adapter's tests (tests/servers/unleash.rs runs it).
// Everything comes from the environment, so no secret is ever on the command line:
//   UNLEASH_PORT, UNLEASH_DB_HOST, UNLEASH_DB_PORT, UNLEASH_DB_NAME, UNLEASH_DB_USER,
//   INIT_ADMIN_API_TOKENS (read by Unleash itself).
import { start } from 'unleash-server';

const env = process.env;
// Unleash reads this one itself, and `telemetry: false` alone does not switch it off.
env.SEND_TELEMETRY = 'false';

start({
    server: { host: '127.0.0.1', port: Number(env.UNLEASH_PORT) },
    db: {
        host: env.UNLEASH_DB_HOST,
        port: Number(env.UNLEASH_DB_PORT),
        database: env.UNLEASH_DB_NAME,
        user: env.UNLEASH_DB_USER,
        password: env.UNLEASH_DB_PASSWORD ?? '',
        ssl: false,
    },
    // The test machine has no internet: nothing may phone home or wait on it.
    versionCheck: { enable: false },
    telemetry: false,
    logLevel: env.UNLEASH_LOG_LEVEL ?? 'warn',
}).catch((error) => {
    console.error(error);
    process.exit(1);
});
