//! CPU cost of balance proofs: digest, sign, recover, verify for a known sender, next to
//! libsecp256k1's bare recovery (the baseline), measured in the same run; then throughput of
//! the hot path on one core and on two.

use std::{hint::black_box, thread, time::Instant};

use alloy_primitives::{Address, B256, Bytes, aliases::U192};
use criterion::Criterion;
use secp256k1::{
    Message, Secp256k1,
    ecdsa::{RecoverableSignature, RecoveryId},
};
use uraiden::proof::{self, ChannelDomain, ProofVerifier, Signer};

struct Fixture {
    domain: ChannelDomain,
    signer: Signer,
    receiver: Address,
    proofs: Vec<(B256, Bytes)>,
}

fn fixture() -> Fixture {
    let domain = ChannelDomain::new(1, Address::repeat_byte(0xcc));
    let signer = Signer::test_key(1);
    let receiver = Address::repeat_byte(0x22);
    let proofs = (1..=256u64)
        .map(|balance| {
            let digest = domain.balance_digest(receiver, 1234, U192::from(balance));
            (digest, signer.sign_digest(digest))
        })
        .collect();
    Fixture { domain, signer, receiver, proofs }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let secp = Secp256k1::verification_only();
    let mut group = c.benchmark_group("balance_proof");
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % f.proofs.len();
        &f.proofs[i]
    };

    group.bench_function("digest", |b| {
        let mut balance = 0u64;
        b.iter(|| {
            balance += 1;
            f.domain.balance_digest(black_box(f.receiver), 1234, U192::from(balance))
        })
    });
    group.bench_function("sign_k256", |b| b.iter(|| f.signer.sign_digest(black_box(f.proofs[0].0))));
    group.bench_function("recover_k256", |b| {
        b.iter(|| {
            let (digest, sig) = next();
            proof::recover(*digest, black_box(sig)).unwrap()
        })
    });
    group.bench_function("baseline_recover_libsecp256k1", |b| {
        b.iter(|| {
            let (digest, sig) = next();
            let recid = RecoveryId::try_from(i32::from(sig[64] - 27)).unwrap();
            let recoverable = RecoverableSignature::from_compact(&sig[..64], recid).unwrap();
            secp.recover_ecdsa(Message::from_digest(digest.0), black_box(&recoverable)).unwrap()
        })
    });
    // `verify_first` always recovers (and then caches the key); it is what a new sender costs.
    let first = ProofVerifier::new();
    group.bench_function("verify_first_proof", |b| {
        b.iter(|| {
            let (digest, sig) = next();
            first.verify_first(f.signer.address(), *digest, black_box(sig)).unwrap()
        })
    });
    let known = ProofVerifier::new();
    known.verify_first(f.signer.address(), f.proofs[0].0, &f.proofs[0].1).unwrap();
    group.bench_function("verify_known_sender", |b| {
        b.iter(|| {
            let (digest, sig) = next();
            known.verify_known(f.signer.address(), *digest, black_box(sig)).unwrap()
        })
    });
    group.finish();
}

/// Proofs per second through `verify_known` on `threads` threads, each with its own verifier.
fn throughput(threads: usize) -> f64 {
    const PER_THREAD: usize = 20_000;
    let f = fixture();
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let verifier = ProofVerifier::new();
                for k in 0..PER_THREAD {
                    let (digest, sig) = &f.proofs[k % f.proofs.len()];
                    verifier.verify_known(f.signer.address(), *digest, sig).unwrap();
                }
            });
        }
    });
    (threads * PER_THREAD) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        for threads in [1, 2] {
            println!("throughput verify_known_sender, {threads} thread(s): {:.0} proofs/s", throughput(threads));
        }
    }
}
