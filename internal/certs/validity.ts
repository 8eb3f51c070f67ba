/** Issued certificates start a minute early so a peer whose clock lags still accepts them. */
export const CLOCK_SKEW_MS = 60_000;
