"""Keys and tokens for bench/jwt.sh: one HS256 secret, one RSA-2048 and one P-256 key pair, a
token for each (iss = the credential's key, exp in an hour), and the same keys as a JWKS for
Envoy's jwt_authn. Prints JSON."""
import base64, json, sys, time

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def token(alg, kid, sign):
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    claims = b64(json.dumps({"iss": kid, "sub": "bench", "exp": int(time.time()) + 3600}).encode())
    signing_input = f"{header}.{claims}".encode()
    return f"{header}.{claims}.{b64(sign(signing_input))}"


def main():
    out, keys = {}, []
    secret = b"bench-hs256-secret-0123456789abcdef"

    def hs(data):
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(data)
        return h.finalize()

    out["HS256"] = {"key": "k-hs", "secret": secret.decode(), "token": token("HS256", "k-hs", hs)}
    keys.append({"kty": "oct", "kid": "k-hs", "alg": "HS256", "k": b64(secret)})

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = rsa_key.public_key()
    rs = lambda d: rsa_key.sign(d, padding.PKCS1v15(), hashes.SHA256())
    out["RS256"] = {"key": "k-rs", "pem": pem(pub), "token": token("RS256", "k-rs", rs)}
    n = pub.public_numbers()
    keys.append({"kty": "RSA", "kid": "k-rs", "alg": "RS256", "n": uint(n.n), "e": uint(n.e)})

    ec_key = ec.generate_private_key(ec.SECP256R1())
    epub = ec_key.public_key()

    def es(data):
        r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    out["ES256"] = {"key": "k-es", "pem": pem(epub), "token": token("ES256", "k-es", es)}
    p = epub.public_numbers()
    keys.append({"kty": "EC", "kid": "k-es", "alg": "ES256", "crv": "P-256",
                 "x": uint(p.x, 32), "y": uint(p.y, 32)})
    out["jwks"] = {"keys": keys}
    json.dump(out, sys.stdout)


def pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


main()
