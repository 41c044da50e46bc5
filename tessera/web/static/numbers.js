// Short subject numbers, checked in the browser exactly as the server checks them
// (tessera/governance/numbers.py): 10 Crockford base-32 characters and Crockford's check symbol
// (the payload's value modulo 37), written TSR-XXXX-XXXX-XXC. Case, hyphens and spaces do not matter;
// I and L read as 1, O as 0. A single mistyped character or two swapped neighbours always fail the check.

export const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CHECK_SYMBOLS = CROCKFORD + "*~$=U";
const PREFIX = "TSR";
const PAYLOAD_LENGTH = 10;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function unconfuse(text) {
  return text.replace(/[IL]/g, "1").replace(/O/g, "0");
}

export function checkCharacter(payload) {
  let remainder = 0;
  for (const character of payload) remainder = (remainder * 32 + CROCKFORD.indexOf(character)) % 37;
  return CHECK_SYMBOLS[remainder];
}

export function formatNumber(canonical) {
  return `${PREFIX}-${canonical.slice(0, 4)}-${canonical.slice(4, 8)}-${canonical.slice(8, 11)}`;
}

// The written form of a typed number, or null when it is not one's shape.
export function parseNumber(text) {
  let cleaned = String(text).replace(/[\s-]/g, "").toUpperCase();
  if (cleaned.length === PREFIX.length + PAYLOAD_LENGTH + 1 && cleaned.startsWith(PREFIX)) cleaned = cleaned.slice(PREFIX.length);
  if (cleaned.length !== PAYLOAD_LENGTH + 1) return null;
  const payload = unconfuse(cleaned.slice(0, PAYLOAD_LENGTH));
  const check = unconfuse(cleaned.slice(PAYLOAD_LENGTH));
  if ([...payload].some((c) => !CROCKFORD.includes(c)) || !CHECK_SYMBOLS.includes(check)) return null;
  return formatNumber(payload + check);
}

// {ok: true, number} for a valid number (or an older long id, which the server still takes);
// {ok: false, code} with the server's own codes: invalid_number or number_check_failed.
export function checkNumber(text) {
  const trimmed = String(text).trim();
  if (UUID.test(trimmed)) return { ok: true, number: trimmed };
  const written = parseNumber(trimmed);
  if (written === null) return { ok: false, code: "invalid_number" };
  const canonical = written.replaceAll("-", "").slice(PREFIX.length);
  if (checkCharacter(canonical.slice(0, PAYLOAD_LENGTH)) !== canonical[PAYLOAD_LENGTH]) {
    return { ok: false, code: "number_check_failed", number: written };
  }
  return { ok: true, number: written };
}
