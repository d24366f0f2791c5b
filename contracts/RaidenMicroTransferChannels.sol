// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IRaidenMicroTransferChannels} from "./interfaces/IRaidenMicroTransferChannels.sol";

/// @title RaidenMicroTransferChannels
/// @notice Unidirectional payment channels in one ERC20/ERC223 token. A sender escrows tokens
///         for one receiver and pays it off-chain by signing ever larger balances (EIP-712
///         balance proofs). The receiver can close at once with the latest proof; the sender
///         alone can only request a close, which opens a challenge period for the receiver.
/// @dev Differences from µRaiden 0.2, each covered by a regression test: only the token may
///      call `tokenFallback`; channels are deleted before any token moves; deposits and
///      top-ups are range-checked instead of truncated; a close request needs an open channel;
///      the settle block is range-checked; proofs are EIP-712 with the chain id and this
///      contract in the domain; high-s signatures are rejected.
///
/// Storage layout (OpenZeppelin's EIP712 owns slots 0 and 1 for long-name fallbacks, unused here):
///   slot 2  `_channels`:        key => Channel, one slot per channel:
///                               bits   0..191  deposit (uint192, never 0 for an open channel)
///                               bits 192..223  settleBlockNumber (uint32, 0 until the sender requests a close)
///   slot 3  `_closingBalances`: key => uint192, written only by a sender's close request
/// Everything else is immutable.
contract RaidenMicroTransferChannels is IRaidenMicroTransferChannels, EIP712 {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @dev One storage slot. A channel exists while `deposit > 0`.
    struct Channel {
        uint192 deposit;
        uint32 settleBlockNumber;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev keccak256("BalanceProof(address receiver,uint32 openBlockNumber,uint192 balance)")
    bytes32 private constant BALANCE_PROOF_TYPEHASH =
        keccak256("BalanceProof(address receiver,uint32 openBlockNumber,uint192 balance)");

    /// @dev keccak256("ClosingAgreement(bytes balanceMsgSig)")
    bytes32 private constant CLOSING_AGREEMENT_TYPEHASH = keccak256("ClosingAgreement(bytes balanceMsgSig)");

    /// @dev Half the secp256k1 order: a valid `s` is at most this (EIP-2).
    uint256 private constant HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /*//////////////////////////////////////////////////////////////
                               IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRaidenMicroTransferChannels
    address public immutable owner;
    /// @inheritdoc IRaidenMicroTransferChannels
    address public immutable token_address;
    /// @inheritdoc IRaidenMicroTransferChannels
    uint32 public immutable challenge_period;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    mapping(bytes32 key => Channel) private _channels;
    mapping(bytes32 key => uint192) private _closingBalances;

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param _token The ERC20/ERC223 token to escrow; must be a contract.
    /// @param _challenge_period Blocks the receiver has to answer a close request; must be > 0.
    constructor(address _token, uint32 _challenge_period) EIP712("RaidenMicroTransferChannels", "1") {
        if (_token.code.length == 0) revert TokenHasNoCode(_token);
        if (_challenge_period == 0) revert ZeroChallengePeriod();
        owner = msg.sender;
        token_address = _token;
        challenge_period = _challenge_period;
    }

    /*//////////////////////////////////////////////////////////////
                            VIEW FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRaidenMicroTransferChannels
    function getKey(address _sender, address _receiver, uint32 _open_block_number) public pure returns (bytes32 key) {
        // keccak256(abi.encodePacked(_sender, _receiver, _open_block_number)), hashed in scratch
        // space: 20 + 20 + 4 bytes at 0x00..0x2c. The write at 0x28 reaches into the free memory
        // pointer, which is restored.
        assembly ("memory-safe") {
            let freeMemoryPointer := mload(0x40)
            mstore(0x00, shl(96, _sender))
            mstore(0x14, shl(96, _receiver))
            mstore(0x28, shl(224, _open_block_number))
            key := keccak256(0x00, 0x2c)
            mstore(0x40, freeMemoryPointer)
        }
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function balanceMessageHash(address _receiver, uint32 _open_block_number, uint192 _balance)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash;
        bytes32 typeHash = BALANCE_PROOF_TYPEHASH;
        // keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, _receiver, _open_block_number, _balance)),
        // built in free memory without moving the pointer.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            mstore(add(m, 0x20), _receiver)
            mstore(add(m, 0x40), _open_block_number)
            mstore(add(m, 0x60), _balance)
            structHash := keccak256(m, 0x80)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function closingAgreementMessageHash(bytes calldata _balance_msg_sig) public view returns (bytes32) {
        bytes32 structHash;
        bytes32 typeHash = CLOSING_AGREEMENT_TYPEHASH;
        // keccak256(abi.encode(CLOSING_AGREEMENT_TYPEHASH, keccak256(_balance_msg_sig))), built in
        // free memory without moving the pointer.
        assembly ("memory-safe") {
            let m := mload(0x40)
            calldatacopy(m, _balance_msg_sig.offset, _balance_msg_sig.length)
            mstore(add(m, 0x20), keccak256(m, _balance_msg_sig.length))
            mstore(m, typeHash)
            structHash := keccak256(m, 0x40)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function verifyBalanceProof(
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance,
        bytes calldata _balance_msg_sig
    ) public view returns (address) {
        return _recover(balanceMessageHash(_receiver, _open_block_number, _balance), _balance_msg_sig);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function verifyClosingSignature(bytes calldata _balance_msg_sig, bytes calldata _closing_sig)
        public
        view
        returns (address)
    {
        return _recover(closingAgreementMessageHash(_balance_msg_sig), _closing_sig);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function getChannelInfo(address _sender, address _receiver, uint32 _open_block_number)
        external
        view
        returns (bytes32, uint192, uint32, uint192)
    {
        bytes32 key = getKey(_sender, _receiver, _open_block_number);
        Channel memory channel = _existingChannel(key);
        return (key, channel.deposit, channel.settleBlockNumber, _closingBalances[key]);
    }

    /*//////////////////////////////////////////////////////////////
                         OPENING AND TOPPING UP
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRaidenMicroTransferChannels
    /// @dev The token has already credited this contract; reverting here undoes the transfer.
    function tokenFallback(address _sender, uint256 _deposit, bytes calldata _data) external {
        if (msg.sender != token_address) revert CallerNotToken(msg.sender);
        if (_deposit > type(uint192).max) revert DepositTooLarge(_deposit);
        if (_data.length != 20 && _data.length != 24) revert InvalidTokenFallbackData(_data.length);
        // The receiver is the first 20 bytes; a top-up's open block the next 4, big-endian.
        address receiver;
        uint32 openBlockNumber;
        assembly ("memory-safe") {
            let word := calldataload(_data.offset)
            receiver := shr(96, word)
            openBlockNumber := and(shr(64, word), 0xffffffff)
        }
        // Casting `_deposit` to uint192 is safe: it was range-checked just above.
        if (_data.length == 20) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _createChannel(_sender, receiver, uint192(_deposit));
        } else {
            // forge-lint: disable-next-line(unsafe-typecast)
            _topUp(_sender, receiver, openBlockNumber, uint192(_deposit));
        }
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function createChannelERC20(address _receiver, uint192 _deposit) external {
        _createChannel(msg.sender, _receiver, _deposit);
        IERC20(token_address).safeTransferFrom(msg.sender, address(this), _deposit);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function topUpERC20(address _receiver, uint32 _open_block_number, uint192 _added_deposit) external {
        _topUp(msg.sender, _receiver, _open_block_number, _added_deposit);
        IERC20(token_address).safeTransferFrom(msg.sender, address(this), _added_deposit);
    }

    /*//////////////////////////////////////////////////////////////
                          CLOSING AND SETTLING
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRaidenMicroTransferChannels
    function close(address _receiver, uint32 _open_block_number, uint192 _balance, bytes calldata _balance_msg_sig)
        external
    {
        address sender = verifyBalanceProof(_receiver, _open_block_number, _balance, _balance_msg_sig);
        bytes32 key = getKey(sender, _receiver, _open_block_number);
        Channel memory channel = _existingChannel(key);
        if (_balance > channel.deposit) revert BalanceExceedsDeposit(_balance, channel.deposit);

        if (msg.sender == _receiver) {
            _settle(key, channel, sender, _receiver, _open_block_number, _balance);
        } else if (msg.sender == sender) {
            _requestClose(key, channel, sender, _receiver, _open_block_number, _balance);
        } else {
            revert CallerNotSenderOrReceiver(msg.sender);
        }
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function close(
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance,
        bytes calldata _balance_msg_sig,
        bytes calldata _closing_sig
    ) external {
        address sender = verifyBalanceProof(_receiver, _open_block_number, _balance, _balance_msg_sig);
        address closingSigner = verifyClosingSignature(_balance_msg_sig, _closing_sig);
        if (closingSigner != _receiver) revert ClosingSignerNotReceiver(closingSigner, _receiver);

        bytes32 key = getKey(sender, _receiver, _open_block_number);
        Channel memory channel = _existingChannel(key);
        if (_balance > channel.deposit) revert BalanceExceedsDeposit(_balance, channel.deposit);
        _settle(key, channel, sender, _receiver, _open_block_number, _balance);
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function settle(address _receiver, uint32 _open_block_number) external {
        bytes32 key = getKey(msg.sender, _receiver, _open_block_number);
        Channel memory channel = _existingChannel(key);
        if (channel.settleBlockNumber == 0) revert CloseNotRequested(key);
        if (block.number <= channel.settleBlockNumber) revert ChallengePeriodNotOver(channel.settleBlockNumber);
        _settle(key, channel, msg.sender, _receiver, _open_block_number, _closingBalances[key]);
    }

    /*//////////////////////////////////////////////////////////////
                           INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev Records a new channel (sender, receiver, block.number). The caller moves the tokens.
    function _createChannel(address _sender, address _receiver, uint192 _deposit) internal {
        if (_receiver == address(0)) revert InvalidReceiver();
        if (_deposit == 0) revert ZeroDeposit();
        if (block.number > type(uint32).max) revert BlockNumberTooLarge(block.number);
        // casting to uint32 is safe: block.number was range-checked just above
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 openBlockNumber = uint32(block.number);
        bytes32 key = getKey(_sender, _receiver, openBlockNumber);
        if (_channels[key].deposit != 0) revert ChannelExists(key);

        _channels[key] = Channel({deposit: _deposit, settleBlockNumber: 0});
        emit ChannelCreated(_sender, _receiver, _deposit);
    }

    /// @dev Adds to an open channel that has no close request. The caller moves the tokens.
    function _topUp(address _sender, address _receiver, uint32 _open_block_number, uint192 _added_deposit) internal {
        if (_added_deposit == 0) revert ZeroDeposit();
        bytes32 key = getKey(_sender, _receiver, _open_block_number);
        Channel memory channel = _existingChannel(key);
        if (channel.settleBlockNumber != 0) revert CloseAlreadyRequested(key);
        if (_added_deposit > type(uint192).max - channel.deposit) {
            revert DepositOverflow(channel.deposit, _added_deposit);
        }

        uint192 deposit;
        unchecked {
            deposit = channel.deposit + _added_deposit; // cannot overflow: checked just above
        }
        // The whole slot is written (settleBlockNumber is 0, checked above): no re-read to mask.
        _channels[key] = Channel({deposit: deposit, settleBlockNumber: 0});
        emit ChannelToppedUp(_sender, _receiver, _open_block_number, _added_deposit, deposit);
    }

    /// @dev Starts the challenge period of a sender's close request.
    function _requestClose(
        bytes32 _key,
        Channel memory _channel,
        address _sender,
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance
    ) internal {
        if (_channel.settleBlockNumber != 0) revert CloseAlreadyRequested(_key);
        uint256 settleBlockNumber;
        unchecked {
            settleBlockNumber = block.number + challenge_period; // a uint256 sum of a block number and a uint32
        }
        if (settleBlockNumber > type(uint32).max) revert SettleBlockTooLarge(settleBlockNumber);

        // casting to uint32 is safe: settleBlockNumber was range-checked just above
        // forge-lint: disable-next-line(unsafe-typecast)
        _channels[_key] = Channel({deposit: _channel.deposit, settleBlockNumber: uint32(settleBlockNumber)});
        _closingBalances[_key] = _balance;
        emit ChannelCloseRequested(_sender, _receiver, _open_block_number, _balance);
    }

    /// @dev Deletes the channel and its close request, then pays `_balance` to the receiver and
    ///      the rest of the deposit back to the sender (checks-effects-interactions: a re-entrant
    ///      token or receiver finds no channel). Zero transfers are skipped.
    function _settle(
        bytes32 _key,
        Channel memory _channel,
        address _sender,
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance
    ) internal {
        delete _channels[_key];
        if (_channel.settleBlockNumber != 0) delete _closingBalances[_key];
        emit ChannelSettled(_sender, _receiver, _open_block_number, _balance);

        IERC20 token = IERC20(token_address);
        if (_balance != 0) token.safeTransfer(_receiver, _balance);
        uint192 refund;
        unchecked {
            refund = _channel.deposit - _balance; // cannot underflow: every caller checked _balance <= deposit
        }
        if (refund != 0) token.safeTransfer(_sender, refund);
    }

    /// @dev The channel under `_key`, or a ChannelNotFound revert.
    function _existingChannel(bytes32 _key) internal view returns (Channel memory channel) {
        channel = _channels[_key];
        if (channel.deposit == 0) revert ChannelNotFound(_key);
    }

    /// @dev Recovers the signer of `_digest` from a 65-byte `r ‖ s ‖ v` signature, with v in
    ///      {27, 28} or {0, 1}; rejects other lengths, high s, and signatures recovering to nobody
    ///      (bad v, r or s zero or out of range: the ecrecover precompile returns nothing).
    function _recover(bytes32 _digest, bytes calldata _signature) internal view returns (address signer) {
        if (_signature.length != 65) revert InvalidSignatureLength(_signature.length);
        bytes32 s = bytes32(_signature[32:64]);
        if (uint256(s) > HALF_CURVE_ORDER) revert InvalidSignatureS(s);
        // ecrecover(digest, v, r, s) through the precompile at address 1, in scratch space
        // 0x00..0x80; the free memory pointer (0x40) and the zero slot (0x60) are restored.
        assembly ("memory-safe") {
            let freeMemoryPointer := mload(0x40)
            let v := byte(0, calldataload(add(_signature.offset, 0x40)))
            if lt(v, 27) { v := add(v, 27) }
            mstore(0x00, _digest)
            mstore(0x20, v)
            calldatacopy(0x40, _signature.offset, 0x40)
            let ok := staticcall(gas(), 0x01, 0x00, 0x80, 0x00, 0x20)
            // On failure the precompile returns no data and 0x00 still holds the digest.
            signer := mul(mload(0x00), and(ok, eq(returndatasize(), 0x20)))
            mstore(0x40, freeMemoryPointer)
            mstore(0x60, 0)
        }
        if (signer == address(0)) revert InvalidSignature();
    }
}
