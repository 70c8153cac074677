// Passkeys (WebAuthn) in the browser. The server speaks the JSON forms of
// WebAuthn (binary fields as base64url): its options go through
// PublicKeyCredential.parse*OptionsFromJSON and credentials come back through
// credential.toJSON() where the browser has them, and through the small
// converters below where it does not.

/** Whether this browser can create and use passkeys at all. */
export function passkeysSupported() {
  return (
    typeof window.PublicKeyCredential === "function" &&
    Boolean(navigator.credentials) &&
    typeof navigator.credentials.create === "function" &&
    typeof navigator.credentials.get === "function"
  );
}

/** "AQID" (base64url, padding optional) -> ArrayBuffer. */
export function fromBase64url(text) {
  const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** ArrayBuffer or a view of one -> base64url without padding. */
export function toBase64url(buffer) {
  const bytes =
    buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withIds(list) {
  return Array.isArray(list) ? list.map((item) => ({ ...item, id: fromBase64url(item.id) })) : list;
}

function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: withIds(json.allowCredentials),
  };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response,
  };
}

/** Make a passkey with the server's creation options; answers the credential's JSON. */
export async function createPasskey(optionsJSON) {
  const credential = await navigator.credentials.create({ publicKey: creationOptions(optionsJSON) });
  if (!credential) throw new DOMException("No passkey was made.", "NotAllowedError");
  return credentialJSON(credential);
}

/** Sign the server's challenge with a passkey; answers the assertion's JSON. */
export async function usePasskey(optionsJSON) {
  const credential = await navigator.credentials.get({ publicKey: requestOptions(optionsJSON) });
  if (!credential) throw new DOMException("No passkey was used.", "NotAllowedError");
  return credentialJSON(credential);
}

/**
 * What to tell the user when the browser's part failed (a DOMException), or
 * null when `error` is not one (an ApiError, shown the usual way).
 */
export function passkeyErrorText(error, { creating = false } = {}) {
  if (!(error instanceof DOMException)) return null;
  switch (error.name) {
    case "NotAllowedError":
    case "AbortError":
      return creating
        ? "No passkey was made: the request was cancelled or timed out. Try again when ready."
        : "No passkey was used: the request was cancelled or timed out, or this device has no passkey for this site.";
    case "InvalidStateError":
      return "This device already holds a passkey for your account.";
    case "SecurityError":
      return "This browser refused passkeys for this address (passkeys need the site's own host name and a secure context).";
    case "NotSupportedError":
      return "This device has no authenticator that can make a passkey here.";
    default:
      return `The browser could not ${creating ? "make" : "use"} a passkey: ${error.message || error.name}.`;
  }
}
