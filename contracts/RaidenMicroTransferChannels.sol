// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
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
    function getKey(address _sender, address _receiver, uint32 _open_block_number) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(_sender, _receiver, _open_block_number));
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function balanceMessageHash(address _receiver, uint32 _open_block_number, uint192 _balance)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, _receiver, _open_block_number, _balance)));
    }

    /// @inheritdoc IRaidenMicroTransferChannels
    function closingAgreementMessageHash(bytes calldata _balance_msg_sig) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CLOSING_AGREEMENT_TYPEHASH, keccak256(_balance_msg_sig))));
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
        // Casting `_deposit` to uint192 is safe: it was range-checked just above.
        if (_data.length == 20) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _createChannel(_sender, address(bytes20(_data)), uint192(_deposit));
        } else if (_data.length == 24) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _topUp(_sender, address(bytes20(_data[0:20])), uint32(bytes4(_data[20:24])), uint192(_deposit));
        } else {
            revert InvalidTokenFallbackData(_data.length);
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

        uint192 deposit = channel.deposit + _added_deposit;
        _channels[key].deposit = deposit;
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
        uint256 settleBlockNumber = block.number + challenge_period;
        if (settleBlockNumber > type(uint32).max) revert SettleBlockTooLarge(settleBlockNumber);

        // casting to uint32 is safe: settleBlockNumber was range-checked just above
        // forge-lint: disable-next-line(unsafe-typecast)
        _channels[_key].settleBlockNumber = uint32(settleBlockNumber);
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
        uint192 refund = _channel.deposit - _balance;
        if (refund != 0) token.safeTransfer(_sender, refund);
    }

    /// @dev The channel under `_key`, or a ChannelNotFound revert.
    function _existingChannel(bytes32 _key) internal view returns (Channel memory channel) {
        channel = _channels[_key];
        if (channel.deposit == 0) revert ChannelNotFound(_key);
    }

    /// @dev Recovers the signer of `_digest` from a 65-byte `r ‖ s ‖ v` signature, with v in
    ///      {27, 28} or {0, 1}; rejects other lengths, high s, and signatures recovering to nobody.
    function _recover(bytes32 _digest, bytes calldata _signature) internal pure returns (address) {
        if (_signature.length != 65) revert InvalidSignatureLength(_signature.length);
        bytes32 r = bytes32(_signature[0:32]);
        bytes32 s = bytes32(_signature[32:64]);
        uint8 v = uint8(_signature[64]);
        if (uint256(s) > HALF_CURVE_ORDER) revert InvalidSignatureS(s);
        if (v < 27) v += 27;
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(_digest, v, r, s);
        if (error != ECDSA.RecoverError.NoError) revert InvalidSignature();
        return signer;
    }
}
